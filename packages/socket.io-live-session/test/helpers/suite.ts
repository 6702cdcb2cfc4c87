/** Mocha wiring shared by the test files. */
import { startApp, type AppOptions, type Backend, type TestApp } from './app.js';
import { closeSockets } from './client.js';

/**
 * Apps started per test in a describe block: returns `start(options)`; after each
 * test every client socket and every app started is closed (Redis keys deleted).
 */
export function useApps(backend: Backend) {
  let apps: TestApp[] = [];
  afterEach(async () => {
    closeSockets();
    await Promise.all(apps.map((a) => a.close()));
    apps = [];
  });
  return async (opts?: AppOptions) => {
    const app = await startApp(backend, opts);
    apps.push(app);
    return app;
  };
}
