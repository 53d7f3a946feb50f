// Admins' routes for the routing policy.
import { PolicyChangeBody, StoredPolicy } from '@hitl/api-contract';
import { DbErrorCode, getCurrentPolicy, listPolicyVersions, updatePolicy } from '@hitl/db';
import { Type } from '@sinclair/typebox';
import { ApiError } from '../errors';
import { bodyErrorResponses, errorResponses, principalOf, type Api } from '../http';
import { E, policyView, type RouteDeps } from './common';

export function policyRoutes(app: Api, { pool, policyName }: RouteDeps): void {
  const admin = { role: 'admin' as const };
  const tags = ['admin'];

  app.get(
    '/v1/admin/policy',
    {
      config: admin,
      schema: {
        tags,
        summary: 'The routing policy in force',
        response: { 200: StoredPolicy, 404: E, ...errorResponses },
      },
    },
    async () => {
      const policy = await getCurrentPolicy(pool, policyName);
      if (!policy) throw new ApiError(DbErrorCode.policyNotFound, `no routing policy ${policyName} yet`);
      return policyView(policy);
    },
  );

  app.get(
    '/v1/admin/policy/history',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Every version of the routing policy, oldest first',
        response: { 200: Type.Array(StoredPolicy), ...errorResponses },
      },
    },
    async () => (await listPolicyVersions(pool, policyName)).map(policyView),
  );

  app.put(
    '/v1/admin/policy',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Make a new version of the routing policy (the router applies it within seconds)',
        body: PolicyChangeBody,
        response: { 200: StoredPolicy, 422: E, ...errorResponses, ...bodyErrorResponses },
      },
    },
    async (request) => {
      const who = principalOf(request);
      const policy = await updatePolicy(pool, policyName, () => request.body.spec, {
        actor: who.reviewerId,
        ...(request.body.reason ? { reason: request.body.reason } : {}),
      });
      return policyView(policy);
    },
  );
}
