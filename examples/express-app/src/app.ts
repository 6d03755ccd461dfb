import {
  type Authorizer,
  createRegistry,
  type Logger,
  type Registry,
  type RegistryStorage,
} from '@wharf/core';
import { wharf } from '@wharf/http-express';
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import { authenticate, type Users } from './users.js';

/** The realm of the app's Basic challenge, for pages and registry alike. */
export const REALM = 'wharf express-app';
const CHALLENGE = `Basic realm="${REALM}", charset="UTF-8"`;

/** A request after {@link basicAuth}: `user` is set when valid credentials came with it. */
export interface AppRequest extends Request {
  user?: string;
}

/** What the registry's `authorize` hook receives as `request.context`. */
export interface RegistryContext {
  readonly user: string | undefined;
}

/**
 * Checks `Authorization: Basic` credentials and sets `req.user`. It never rejects by itself: each
 * route (and the registry's policy) decides whether it needs a user.
 */
export function basicAuth(users: Users): RequestHandler {
  return (req, _res, next) => {
    const header = req.headers.authorization;
    if (!header?.startsWith('Basic ')) {
      next();
      return;
    }
    const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 1) {
      next();
      return;
    }
    authenticate(users, decoded.slice(0, colon), decoded.slice(colon + 1)).then((user) => {
      if (user) (req as AppRequest).user = user;
      next();
    }, next);
  };
}

/**
 * The registry's access rules: every registry request needs a signed-in user (so `docker login`
 * and `podman login` check credentials against `/v2/`); anyone signed in may pull and list; only
 * `<user>/…` repositories may be pushed to or deleted from.
 */
export const namespacePolicy: Authorizer = ({ action, repository, request }) => {
  const { user } = request.context as RegistryContext;
  if (!user) return { allow: false, status: 401, challenge: CHALLENGE };
  if (action === 'push' || action === 'delete') {
    return repository?.startsWith(`${user}/`)
      ? true
      : { allow: false, status: 403, message: `${user} may only push to ${user}/…` };
  }
  return true;
};

/** Options of {@link createApp}. */
export interface AppOptions {
  readonly users: Users;
  /** Registry storage; default in-memory. */
  readonly storage?: RegistryStorage;
  readonly logger?: Partial<Logger>;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

function requireUser(req: Request, res: Response): string | undefined {
  const user = (req as AppRequest).user;
  if (!user) {
    res.status(401).set('WWW-Authenticate', CHALLENGE).type('text/plain').send('sign in first\n');
  }
  return user;
}

/** The app: its own pages and API, and an OCI registry at `/v2/`. */
export function createApp(options: AppOptions): { app: Express; registry: Registry } {
  const registry = createRegistry({
    ...(options.storage ? { storage: options.storage } : {}),
    authorize: namespacePolicy,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const app = express();
  app.disable('x-powered-by');

  // Authentication first, so both the pages and the registry see `req.user`.
  app.use(basicAuth(options.users));
  // The registry next, before any body parser: it needs the raw request stream.
  app.use(
    wharf<AppRequest>(registry, {
      context: (req): RegistryContext => ({ user: req.user }),
    }),
  );
  app.use(express.json());

  app.get('/', (req, res) => {
    const user = (req as AppRequest).user;
    res.type('html').send(
      page(
        'wharf express-app',
        `<p>${user ? `Signed in as <b>${escapeHtml(user)}</b>.` : '<a href="/account">Sign in</a>.'}</p>
<p>This app also serves an OCI registry at <code>/v2/</code>: sign in with
<code>podman login</code>, then push to <code>&lt;your name&gt;/&lt;image&gt;</code>.</p>`,
      ),
    );
  });

  app.get('/account', (req, res) => {
    const user = requireUser(req, res);
    if (!user) return;
    res
      .type('html')
      .send(
        page(
          `Hello, ${user}`,
          `<p>You may push to <code>${escapeHtml(req.get('host') ?? '')}/${escapeHtml(user)}/…</code>.</p>`,
        ),
      );
  });

  app.get('/api/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/api/me', (req, res) => {
    const user = requireUser(req, res);
    if (!user) return;
    res.json({ user, namespace: `${user}/` });
  });

  return { app, registry };
}
