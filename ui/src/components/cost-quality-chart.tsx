/** One candidate on the cost-quality plane: cost per 1,000 tasks, and a quality value with its 95% interval. */
export interface CostQualityPoint {
  name: string;
  costPer1000Usd: number;
  value: number;
  low: number;
  high: number;
}

const WIDTH = 560;
const HEIGHT = 260;
const PAD = { left: 56, right: 24, top: 16, bottom: 40 };

/** A small SVG scatter: cheaper is left, better is up; each point's whisker is its interval. */
export function CostQualityChart(props: { points: readonly CostQualityPoint[]; metric: string }) {
  const { points } = props;
  const maxCost = Math.max(...points.map((point) => point.costPer1000Usd), 0.001) * 1.15;
  // Round the quality axis to tenths so that its ticks read as whole percentages.
  const minQuality = Math.max(0, Math.floor((Math.min(...points.map((point) => point.low)) - 0.02) * 10) / 10);
  const maxQuality = Math.min(1, Math.ceil((Math.max(...points.map((point) => point.high)) + 0.02) * 10) / 10);
  const x = (cost: number) => PAD.left + (cost / maxCost) * (WIDTH - PAD.left - PAD.right);
  const y = (quality: number) => HEIGHT - PAD.bottom - ((quality - minQuality) / Math.max(maxQuality - minQuality, 0.01)) * (HEIGHT - PAD.top - PAD.bottom);
  const step = maxQuality - minQuality > 0.5 ? 0.2 : 0.1;
  const yTicks = Array.from({ length: Math.round((maxQuality - minQuality) / step) + 1 }, (_, index) => minQuality + index * step);
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((fraction) => fraction * maxCost);
  return (
    <svg className="cost-quality" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label="cost against quality" data-points={points.length}>
      {yTicks.map((tick) => (
        <g key={`y${tick}`}>
          <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(tick)} y2={y(tick)} className="grid" />
          <text x={PAD.left - 6} y={y(tick) + 4} textAnchor="end">{(tick * 100).toFixed(0)}%</text>
        </g>
      ))}
      {xTicks.map((tick) => <text key={`x${tick}`} x={x(tick)} y={HEIGHT - PAD.bottom + 16} textAnchor="middle">${tick < 0.1 ? tick.toPrecision(2) : tick.toFixed(2)}</text>)}
      <text x={(PAD.left + WIDTH - PAD.right) / 2} y={HEIGHT - 4} textAnchor="middle" className="axis">$ per 1,000 tasks</text>
      <text x={12} y={(PAD.top + HEIGHT - PAD.bottom) / 2} textAnchor="middle" className="axis" transform={`rotate(-90 12 ${(PAD.top + HEIGHT - PAD.bottom) / 2})`}>{props.metric}</text>
      {points.map((point) => (
        <g key={point.name}>
          <line x1={x(point.costPer1000Usd)} x2={x(point.costPer1000Usd)} y1={y(point.low)} y2={y(point.high)} className="whisker" />
          <circle cx={x(point.costPer1000Usd)} cy={y(point.value)} r={5} className="point" />
          {/* Labels of points in the right half go to their left, so that they stay inside the plot. */}
          <text x={x(point.costPer1000Usd) + (x(point.costPer1000Usd) > WIDTH / 2 ? -9 : 9)} y={y(point.value) - 6} textAnchor={x(point.costPer1000Usd) > WIDTH / 2 ? 'end' : 'start'} className="point-label">{point.name}</text>
        </g>
      ))}
    </svg>
  );
}
