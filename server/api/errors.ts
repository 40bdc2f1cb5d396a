/**
 * Every error code the HTTP API answers with, created in this one file.
 * Body shape (as fastify's own errors): { statusCode, code, error, message }.
 */
import { STATUS_CODES } from 'node:http';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ApiError';
  }
}

/** A factory for one error code; `code` and `statusCode` are readable for tests and docs. */
export interface ApiErrorFactory<A extends unknown[]> {
  (...args: A): ApiError;
  readonly code: string;
  readonly statusCode: number;
}

function defineError<A extends unknown[]>(
  code: string,
  statusCode: number,
  message: (...args: A) => string,
): ApiErrorFactory<A> {
  return Object.assign((...args: A) => new ApiError(code, statusCode, message(...args)), {
    code,
    statusCode,
  });
}

export const Errors = {
  /** Query, params or body failed the route's JSON schema. */
  validation: defineError('HW_VALIDATION', 400, (detail: string) => detail),
  /** A time bound that is neither epoch milliseconds nor an ISO 8601 date. */
  badTime: defineError(
    'HW_BAD_TIME',
    400,
    (key: string, value: string) =>
      `querystring/${key} must be epoch milliseconds or an ISO 8601 date (got '${value}')`,
  ),
  /** from after to. */
  badRange: defineError(
    'HW_BAD_RANGE',
    400,
    (from: number, to: number) =>
      `querystring/from (${new Date(from).toISOString()}) is after querystring/to (${new Date(to).toISOString()})`,
  ),
  routeNotFound: defineError(
    'HW_ROUTE_NOT_FOUND',
    404,
    (method: string, url: string) => `no route ${method} ${url}`,
  ),
  /** No token, or one that is unknown or expired. */
  unauthorized: defineError('HW_UNAUTHORIZED', 401, (detail: string) => detail),
  /** Wrong username or password (which of the two is not said). */
  badCredentials: defineError('HW_BAD_CREDENTIALS', 401, () => 'wrong username or password'),
  /**
   * Outside the caller's scope, or no such id: the same answer for both, so ids cannot be
   * enumerated by probing.
   */
  forbidden: defineError(
    'HW_FORBIDDEN',
    403,
    (what: string, id: string) => `${what} '${id}' is not within your scope (or does not exist)`,
  ),
  /** The caller's role may not do this. */
  roleForbidden: defineError(
    'HW_ROLE_FORBIDDEN',
    403,
    (role: string, action: string) => `role '${role}' may not ${action}`,
  ),
  /** A disposal step the alarm's state does not allow. */
  conflict: defineError('HW_CONFLICT', 409, (detail: string) => detail),
  rateLimited: defineError(
    'HW_RATE_LIMITED',
    429,
    (retryAfterS: number) => `too many requests; retry in ${retryAfterS} s`,
  ),
  /** One user holding more live streams than the per-user cap (issue 13 item 6). */
  tooManyStreams: defineError(
    'HW_TOO_MANY_STREAMS',
    429,
    (user: string, open: number, limit: number) =>
      `user '${user}' already has ${open} live streams open (at most ${limit}); close one first`,
  ),
  internal: defineError('HW_INTERNAL', 500, () => 'internal server error'),
} as const;

export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
}

export function errorBody(statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

export const errorBodySchema = {
  type: 'object',
  required: ['statusCode', 'code', 'error', 'message'],
  properties: {
    statusCode: { type: 'integer' },
    code: { type: 'string' },
    error: { type: 'string' },
    message: { type: 'string' },
  },
} as const;
