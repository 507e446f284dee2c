import { useMemo } from 'react';
import type uPlot from 'uplot';
import type { LossPointView, ValidationPointView } from '../../../src/contracts/dashboard.ts';
import { UplotChart } from './uplot-chart.tsx';

/** Training loss and validation loss by step, on one axis. */
export function LossChart(props: { loss: readonly LossPointView[]; validation: readonly ValidationPointView[] }) {
  const options = useMemo((): Omit<uPlot.Options, 'width'> => ({
    height: 300,
    scales: { x: { time: false } },
    axes: [{ label: 'step', incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000] }, { label: 'loss', size: 60 }],
    series: [
      {},
      // Points only while there are few (uPlot's default): a run's first logged loss is visible before it is a line.
      { label: 'training loss', stroke: '#2563eb', width: 2, spanGaps: true },
      { label: 'validation loss', stroke: '#ea580c', width: 2, spanGaps: true, points: { show: true, size: 7 } },
    ],
    legend: { live: false },
  }), []);
  const data = useMemo((): uPlot.AlignedData => {
    const steps = [...new Set([...props.loss.map((point) => point.step), ...props.validation.map((point) => point.step)])].sort((a, b) => a - b);
    const loss = new Map(props.loss.map((point) => [point.step, point.loss]));
    const validation = new Map(props.validation.map((point) => [point.step, point.evalLoss]));
    return [steps, steps.map((step) => loss.get(step) ?? null), steps.map((step) => validation.get(step) ?? null)];
  }, [props.loss, props.validation]);
  if (props.loss.length === 0 && props.validation.length === 0) return <p className="muted" data-testid="loss-chart-empty">No loss logged yet.</p>;
  return <UplotChart options={options} data={data} points={props.loss.length + props.validation.length} label="loss curves" />;
}
