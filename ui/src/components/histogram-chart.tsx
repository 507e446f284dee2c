import { useMemo } from 'react';
import uPlot from 'uplot';
import type { LengthBucket } from '../../../src/contracts/dashboard.ts';
import { UplotChart } from './uplot-chart.tsx';

/** A histogram of lengths: one bar per bucket, placed at the bucket's start. */
export function HistogramChart(props: { buckets: readonly LengthBucket[]; unit: string }) {
  const width = props.buckets[0] === undefined ? 1 : props.buckets[0].to - props.buckets[0].from;
  const options = useMemo((): Omit<uPlot.Options, 'width'> => ({
    height: 220,
    scales: { x: { time: false, range: (_plot, min, max) => [min, max + width] } },
    axes: [{ label: props.unit }, { label: 'examples', size: 60 }],
    series: [{}, { label: 'examples', fill: 'rgba(37, 99, 235, 0.55)', stroke: '#2563eb', paths: uPlot.paths.bars!({ size: [1, Infinity], align: 1 }), points: { show: false } }],
    legend: { show: false },
  }), [width, props.unit]);
  const data = useMemo((): uPlot.AlignedData => [props.buckets.map((bucket) => bucket.from), props.buckets.map((bucket) => bucket.count)], [props.buckets]);
  if (props.buckets.length === 0) return <p className="muted">No examples.</p>;
  return <UplotChart options={options} data={data} points={props.buckets.length} label={`histogram of ${props.unit}`} />;
}
