// Admins' view of how the model learns: its decisions beside people's, per minute up to per day
// as the span of activity needs, the audit sample's verdict on it, and its promotions.
import { Learning, LearningQuery } from '@hitl/api-contract';
import { errorResponses, type Api } from '../http';
import { learningView } from '../learning';
import { type RouteDeps } from './common';

export function learningRoutes(app: Api, { pool, policyName }: RouteDeps): void {
  app.get(
    '/v1/admin/learning',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['admin'],
        summary: 'Decisions by the model and by people over time, audit results and promotions',
        description:
          'Over the last `days` days (1 to 90, default 14), from the start of that UTC minute, in buckets of `bucketMinutes`: the smallest of 1, 5, 15, 60, 360 and 1440 minutes that gives at most 200 buckets from the first activity in the window to `to`, aligned to the Unix epoch (a day is a UTC day); only buckets with activity are listed. modelDecisions are counted from the decisions topic (0 while LEARNING_COUNTS is off); humanDecisions, audited and auditedCorrect come from the review tasks; promotions are of the routing policy’s model.',
        querystring: LearningQuery,
        response: { 200: Learning, ...errorResponses },
      },
    },
    // The model id is the routing policy's name (the router's POLICY_NAME is its MODEL_ID).
    async (request) => learningView(pool, policyName, request.query.days),
  );
}
