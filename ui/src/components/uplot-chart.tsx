import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/**
 * A uPlot chart that follows its container's width and takes new data without being rebuilt (a live loss curve
 * appends points every second). `points` is set on the element as `data-points` so tests can watch it grow.
 */
export function UplotChart(props: { options: Omit<uPlot.Options, 'width'>; data: uPlot.AlignedData; points: number; label: string }) {
  const container = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const { options, data } = props;

  useEffect(() => {
    const element = container.current;
    if (element === null) return undefined;
    const plot = new uPlot({ ...options, width: Math.max(element.clientWidth, 300) }, data, element);
    chart.current = plot;
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(element.clientWidth, 300), height: options.height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
      chart.current = null;
    };
    // The chart is built once per set of options; data changes go through setData below.
  }, [options]);

  useEffect(() => {
    chart.current?.setData(data);
  }, [data]);

  return <div className="chart" ref={container} data-points={props.points} aria-label={props.label} role="img" />;
}
