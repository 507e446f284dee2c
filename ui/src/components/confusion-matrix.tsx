import { count } from '../format.ts';

/**
 * The part of a confusion matrix that holds the mistakes: the labels with the most off-diagonal answers (gold rows,
 * predicted columns), shaded by count, and the most frequent confusions as a list.
 */
export function ConfusionMatrix(props: { labels: readonly string[]; counts: readonly (readonly number[])[]; maxLabels?: number }) {
  const { labels, counts } = props;
  const errors = labels.map((_, index) => counts.reduce((sum, row, gold) => sum + (gold === index ? 0 : row[index]!), 0) + counts[index]!.reduce((sum, value, predicted) => sum + (predicted === index ? 0 : value), 0));
  const shown = labels.map((_, index) => index).filter((index) => errors[index]! > 0).sort((a, b) => errors[b]! - errors[a]!).slice(0, props.maxLabels ?? 12).sort((a, b) => a - b);
  const confusions = counts.flatMap((row, gold) => row.flatMap((value, predicted) => (gold !== predicted && value > 0 ? [{ gold: labels[gold]!, predicted: labels[predicted]!, value }] : []))).sort((a, b) => b.value - a.value).slice(0, 8);
  if (shown.length === 0) return <p className="muted">No confusions: every answer matches its reference.</p>;
  const largest = Math.max(1, ...shown.flatMap((gold) => shown.map((predicted) => counts[gold]![predicted]!)));
  return (
    <div className="confusion" data-testid="confusion-matrix" data-labels={shown.length}>
      <div className="confusion-grid">
        <table className="matrix">
          <thead>
            <tr><th className="corner">gold ↓ predicted →</th>{shown.map((index) => <th key={index} className="column-label"><span title={labels[index]}>{labels[index]}</span></th>)}</tr>
          </thead>
          <tbody>
            {shown.map((gold) => (
              <tr key={gold}>
                <th className="row-label mono" title={labels[gold]}>{labels[gold]}</th>
                {shown.map((predicted) => {
                  const value = counts[gold]![predicted]!;
                  const shade = value / largest;
                  return <td key={predicted} className={`cell${gold === predicted ? ' diagonal' : ''}`} style={{ background: value === 0 ? undefined : gold === predicted ? `rgba(5, 150, 105, ${0.15 + 0.6 * shade})` : `rgba(220, 38, 38, ${0.15 + 0.6 * shade})` }}>{value === 0 ? '' : count(value)}</td>;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div>
        <h3>Most frequent confusions</h3>
        <ol className="confusions">{confusions.map((entry) => <li key={`${entry.gold}|${entry.predicted}`}><span className="mono">{entry.gold}</span> → <span className="mono">{entry.predicted}</span> <span className="muted">×{entry.value}</span></li>)}</ol>
      </div>
    </div>
  );
}
