import { z } from 'zod';

/** `auth`: distribution's authentication: Basic against htpasswd, or tokens from an external issuer. */
export const authSection = z
  .strictObject({
    htpasswd: z
      .strictObject({
        realm: z.string().default('basic-realm').describe('Realm of the `Basic` challenge.'),
        path: z
          .string()
          .min(1)
          .describe('htpasswd file (bcrypt entries, as `htpasswd -B` writes). Reloaded on SIGHUP.'),
      })
      .optional(),
    token: z
      .strictObject({
        realm: z.url().describe('URL of the external token endpoint clients are sent to.'),
        service: z.string().min(1).describe('Service name: the challenge’s `service`, the tokens’ `aud`.'),
        issuer: z.string().min(1).describe('The tokens’ required `iss`.'),
        rootcertbundle: z
          .string()
          .optional()
          .describe('PEM file of the certificates (or public keys) whose keys sign the tokens.'),
        jwks: z.string().optional().describe('JWKS file with the keys that sign the tokens.'),
      })
      .optional(),
  })
  .optional();
