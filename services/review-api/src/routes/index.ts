// The review API's routes, a file per resource.
import type { Api } from '../http';
import { type RouteDeps } from './common';
import { goldRoutes } from './gold';
import { learningRoutes } from './learning';
import { modelRoutes } from './models';
import { policyRoutes } from './policy';
import { queryRoutes } from './queries';
import { reviewerAdminRoutes } from './reviewers';
import { streamRoutes } from './streams';
import { taskRoutes } from './tasks';

export type { RouteDeps } from './common';

/** Every route of the API on the app. */
export function registerRoutes(app: Api, deps: RouteDeps): void {
  taskRoutes(app, deps);
  reviewerAdminRoutes(app, deps);
  policyRoutes(app, deps);
  modelRoutes(app, deps);
  queryRoutes(app, deps);
  learningRoutes(app, deps);
  goldRoutes(app, deps);
  streamRoutes(app, deps);
}
