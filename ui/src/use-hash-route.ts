import { useEffect, useState } from 'react';

/** The page's route from the address's hash (`#/runs/run_x`), so the page works under any mount path. */
export function useHashRoute(): string[] {
  const read = (): string[] => window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const update = (): void => setParts(read());
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return parts;
}
