export { createRouterService, type RouterDeps, type RouterService } from './app';
export { loadRouterConfig, routerConfigSpec, type RouterConfig } from './config';
export { routerMetrics, type RouterMetrics } from './metrics';
export { PolicyHolder } from './policy-holder';
