import { useMemo } from 'react';
import type uPlot from 'uplot';
import type { EconomicsView } from '../../../src/contracts/dashboard.ts';
import { UplotChart } from './uplot-chart.tsx';

const compact = (value: number): string => new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(value);

/** Cumulative cost of the hosted and the tuned path against lifetime tasks, the crossover as a marked point. */
export function CostCurveChart(props: { view: EconomicsView }) {
  const { curve, crossoverTasks } = props.view;
  const options = useMemo((): Omit<uPlot.Options, 'width'> => ({
    height: 300,
    scales: { x: { time: false } },
    axes: [
      { label: 'tasks served', values: (_plot, ticks) => ticks.map(compact) },
      { label: 'cumulative cost ($)', size: 70, values: (_plot, ticks) => ticks.map((tick) => `$${compact(tick)}`) },
    ],
    series: [
      {},
      { label: 'hosted', stroke: '#ea580c', width: 2, points: { show: false } },
      { label: 'tuned (one-off + serving)', stroke: '#2563eb', width: 2, points: { show: false } },
      { label: 'crossover', stroke: '#111827', fill: '#111827', width: 0, points: { show: true, size: 11, fill: '#facc15', stroke: '#111827' } },
    ],
    legend: { live: false },
  }), []);
  const data = useMemo((): uPlot.AlignedData => {
    const points = curve.map((point) => ({ ...point, crossover: null as number | null }));
    if (crossoverTasks !== null) {
      const hostedPerTask = (props.view.per1000.hostedUsd / 1000);
      const cost = crossoverTasks * hostedPerTask;
      points.push({ tasks: crossoverTasks, hostedUsd: cost, tunedUsd: cost, crossover: cost });
      points.sort((a, b) => a.tasks - b.tasks);
    }
    return [points.map((point) => point.tasks), points.map((point) => point.hostedUsd), points.map((point) => point.tunedUsd), points.map((point) => point.crossover)];
  }, [curve, crossoverTasks, props.view.per1000.hostedUsd]);
  return <UplotChart options={options} data={data} points={curve.length} label="cumulative cost" />;
}
