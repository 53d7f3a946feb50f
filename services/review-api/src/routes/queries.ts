// Reading the review work: task lists, statistics and the labelled data.
import { ExportQuery, Stats, TaskListQuery, TaskPage } from '@hitl/api-contract';
import { Type } from '@sinclair/typebox';
import { Readable } from 'node:stream';
import { errorResponses, principalOf, type Api } from '../http';
import { exportLabels, listTasks, reviewStats } from '../queries';
import { type RouteDeps } from './common';

export function queryRoutes(app: Api, { pool, reliabilityFlagBelow }: RouteDeps): void {
  const tags = ['queries'];
  app.get(
    '/v1/tasks',
    {
      config: { role: 'reviewer' },
      schema: {
        tags,
        summary: 'Tasks, newest first, filtered, a page at a time',
        querystring: TaskListQuery,
        response: { 200: TaskPage, ...errorResponses },
      },
    },
    async (request) => {
      const who = principalOf(request);
      // Reviewers see the tasks they hold or answered; what else was decided is for admins.
      return listTasks(pool, {
        ...request.query,
        ...(who.role === 'admin' ? {} : { visibleTo: who.reviewerId }),
      });
    },
  );

  app.get(
    '/v1/stats',
    {
      config: { role: 'reviewer' },
      schema: {
        tags,
        summary:
          'Queue depth by reason and class, oldest wait, decisions per hour, per-reviewer counts and agreement',
        response: { 200: Stats, ...errorResponses },
      },
    },
    async (request) => {
      const who = principalOf(request);
      // A reviewer gets the queue and their own figures, not the other reviewers'.
      return reviewStats(
        pool,
        who.role === 'admin' ? { flagBelow: reliabilityFlagBelow } : { reviewerId: who.reviewerId },
      );
    },
  );

  app.get(
    '/v1/export',
    {
      config: { role: 'admin' },
      schema: {
        tags,
        summary: 'The labelled data as JSON lines (application/x-ndjson), streamed, oldest decision first',
        querystring: ExportQuery,
        response: {
          // Keyed by media type, so the document says what the stream is sent as (errors stay JSON).
          200: {
            description: 'The labelled data, one JSON object per line.',
            content: {
              'application/x-ndjson': {
                schema: Type.String({
                  description:
                    'One JSON object per line: eventId, stream, input, label, reviewerLabels, reviewReason, modelPrediction, decidedAt.',
                }),
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      void reply.type('application/x-ndjson');
      return reply.send(Readable.from(exportLabels(pool, request.query)));
    },
  );
}
