/**
 * Shared tag reads: concurrent GETs of one tag share bucket requests, and no caller ever gets an
 * answer read before it asked (docs/architecture.md, "S3 read path").
 */
import { createRegistry } from '@wharf/core';
import { deferred, makeImage, OciClient, tick } from '@wharf/test-utils';
import { describe, expect, it } from 'vitest';
import { MemoryObjectStore, type ObjectCall } from '../src/objects/memory.js';
import { storageOn } from '../src/storage.js';

describe('GET of a manifest by tag on S3', () => {
  /** Two replicas on one bucket; the next tag read can be held after it took effect. */
  function setup() {
    let hold: Promise<void> | undefined;
    const tagHeads: ObjectCall[] = [];
    const store = new MemoryObjectStore({
      hooks: {
        async after(call) {
          if (call.operation === 'head' && call.key.includes('/_manifests/tags/')) {
            tagHeads.push(call);
            const held = hold;
            hold = undefined;
            if (held) await held;
          }
        },
      },
    });
    const open = () => {
      const registry = createRegistry({ storage: storageOn(store, { prefix: 'r' }) });
      return new OciClient('http://registry.local', (input, init) =>
        registry.fetch(new Request(input, init)),
      );
    };
    return {
      a: open(),
      b: open(),
      tagHeads,
      /** Holds the next tag read's answer until the returned function is called. */
      holdNextTagRead() {
        const gate = deferred();
        hold = gate.promise;
        return () => gate.resolve();
      },
    };
  }

  const digestOf = async (client: OciClient) => {
    const res = await client.request('HEAD', '/v2/team/app/manifests/v1');
    expect(res.status).toBe(200);
    return res.headers.get('docker-content-digest');
  };

  it('shares the bucket requests of concurrent readers', async () => {
    const { a, tagHeads, holdNextTagRead } = setup();
    const image = makeImage({ layers: [100] });
    await a.pushImage('team/app', 'v1', image);
    expect(await digestOf(a)).toBe(image.manifest.digest);
    tagHeads.length = 0;
    const release = holdNextTagRead();
    const first = digestOf(a);
    while (tagHeads.length === 0) await tick();
    const rest = Array.from({ length: 31 }, () => digestOf(a));
    await tick();
    release();
    expect(await Promise.all([first, ...rest])).toEqual(Array(32).fill(image.manifest.digest));
    // One read for the first caller, one shared by the 31 who came while it was in flight.
    expect(tagHeads.length).toBe(2);
  });

  it('never answers a caller with a read that began before it asked', async () => {
    const { a, b, tagHeads, holdNextTagRead } = setup();
    const [one, two] = [makeImage({ layers: [100] }), makeImage({ layers: [200] })];
    await a.pushImage('team/app', 'v1', one);
    tagHeads.length = 0;
    const release = holdNextTagRead();
    // A's read of the tag has taken effect (it saw `one`) but not yet answered...
    const before = digestOf(a);
    while (tagHeads.length === 0) await tick();
    // ...when another replica moves the tag, and only then does a second client ask A.
    await b.pushImage('team/app', 'v1', two);
    const after = digestOf(a);
    await tick();
    release();
    expect(await before).toBe(one.manifest.digest);
    expect(await after).toBe(two.manifest.digest);
  });
});
