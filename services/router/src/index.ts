export { createRouterService, type RouterDeps, type RouterService } from './app';
export { loadRouterConfig, routerConfigSpec, type RouterConfig } from './config';
export {
  MAX_STREAM_LABELS,
  OTHER_STREAMS_LABEL,
  routerMetrics,
  streamLabels,
  UNREGISTERED_STREAM_LABEL,
  type RouterMetrics,
} from './metrics';
export { PolicyHolder, RoutingTable } from './policy-holder';
