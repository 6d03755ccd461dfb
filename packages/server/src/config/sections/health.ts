import { z } from 'zod';
import { duration } from '../units.js';

/** `health`: how `/readyz` checks storage. */
export const healthSection = z
  .strictObject({
    storagedriver: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe('Checks storage in the background; `/readyz` reports it.'),
        interval: duration().default('10s').describe('Time between checks.'),
        threshold: z
          .number()
          .int()
          .positive()
          .default(1)
          .describe('Consecutive failures before `/readyz` answers 503 (one success turns it back).'),
      })
      .prefault({}),
  })
  .prefault({});
