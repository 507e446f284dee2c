import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import type { OverviewView } from '../../src/contracts/dashboard.ts';
import { Status } from './components/status.tsx';
import { count } from './format.ts';
import { DataPage } from './pages/data-page.tsx';
import { DatasetsPage } from './pages/datasets-page.tsx';
import { EconomicsPage } from './pages/economics-page.tsx';
import { EvalPage } from './pages/eval-page.tsx';
import { EvalsPage } from './pages/evals-page.tsx';
import { ExperimentsPage } from './pages/experiments-page.tsx';
import { ReviewPage } from './pages/review-page.tsx';
import { RunPage } from './pages/run-page.tsx';
import { RunsPage } from './pages/runs-page.tsx';
import { StatsPage } from './pages/stats-page.tsx';
import { useFetch } from './use-fetch.ts';
import { usePolling } from './use-polling.ts';
import { useHashRoute } from './use-hash-route.ts';
import './styles.css';

const SECTIONS = [
  { path: 'examples', title: 'Examples' },
  { path: 'review', title: 'Review' },
  { path: 'stats', title: 'Statistics' },
  { path: 'datasets', title: 'Datasets' },
  { path: 'runs', title: 'Runs' },
  { path: 'evals', title: 'Evaluations' },
  { path: 'experiments', title: 'Experiments' },
  { path: 'economics', title: 'Economics' },
] as const;

function App() {
  const route = useHashRoute();
  const overview = useFetch<OverviewView>('overview');
  // The sidebar's counts follow the workspace (runs started or reviews done elsewhere); the review page keeps its own copy.
  const counts = useFetch<OverviewView>('overview', usePolling(5000));
  const section = route[0] ?? 'examples';
  const value = counts.state === 'ready' ? counts.value : overview.state === 'ready' ? overview.value : undefined;
  return (
    <div className="app">
      <nav>
        <div className="brand">Understudy</div>
        <div className="task mono" title={value?.workspace}>{value?.task.name ?? ''}</div>
        <ul>
          {SECTIONS.map((item) => (
            <li key={item.path}>
              <a href={`#/${item.path}`} className={section === item.path ? 'active' : ''}>
                {item.title}
                {item.path === 'review' && value !== undefined && value.pool.pending > 0 && <span className="count">{count(value.pool.pending)}</span>}
                {item.path === 'runs' && value !== undefined && value.runs.running > 0 && <span className="count live">{value.runs.running} live</span>}
              </a>
            </li>
          ))}
        </ul>
        {value !== undefined && <div className="muted small footer">{count(value.pool.total)} examples<br />{count(value.runs.total)} runs</div>}
      </nav>
      <main>
        {section === 'examples' && <DataPage />}
        {section === 'review' && <Status loaded={overview}>{(loaded) => <ReviewPage overview={loaded} />}</Status>}
        {section === 'stats' && <StatsPage />}
        {section === 'datasets' && <DatasetsPage datasetId={route[1]} />}
        {section === 'runs' && (route[1] === undefined ? <RunsPage /> : <RunPage id={route[1]} />)}
        {section === 'evals' && (route[1] === undefined ? <EvalsPage /> : <EvalPage id={route[1]} />)}
        {section === 'experiments' && <ExperimentsPage />}
        {section === 'economics' && <EconomicsPage />}
        {!SECTIONS.some((item) => item.path === section) && <p className="error">No page #{route.join('/')}.</p>}
      </main>
    </div>
  );
}

createRoot(document.getElementById('root')!).render(<StrictMode><App /></StrictMode>);
