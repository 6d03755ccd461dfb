import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EMPTY_SHA256, encodeKey, SigV4Signer } from '../src/objects/sigv4.js';

/** The example credentials and date of the S3 documentation's Signature Version 4 examples. */
const credentials = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};
const now = new Date('2013-05-24T00:00:00Z');

describe('Signature Version 4', () => {
  it('signs the documentation example GET with a range', () => {
    const headers = new SigV4Signer('us-east-1').sign(
      {
        method: 'GET',
        host: 'examplebucket.s3.amazonaws.com',
        path: '/test.txt',
        headers: { range: 'bytes=0-9' },
        payloadHash: EMPTY_SHA256,
      },
      credentials,
      now,
    );
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });

  it('signs the documentation example PUT of a key that needs encoding', () => {
    const body = Buffer.from('Welcome to Amazon S3.');
    const headers = new SigV4Signer('us-east-1').sign(
      {
        method: 'PUT',
        host: 'examplebucket.s3.amazonaws.com',
        path: `/${encodeKey('test$file.text')}`,
        headers: { date: 'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-storage-class': 'REDUCED_REDUNDANCY' },
        payloadHash: createHash('sha256').update(body).digest('hex'),
      },
      credentials,
      now,
    );
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, ' +
        'Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
    );
  });

  it('signs a session token, and encodes key segments but not their slashes', () => {
    const headers = new SigV4Signer('eu-west-1').sign(
      { method: 'HEAD', host: 'h', path: '/b/k', payloadHash: EMPTY_SHA256 },
      { ...credentials, sessionToken: 'token' },
      now,
    );
    expect(headers['x-amz-security-token']).toBe('token');
    expect(headers.authorization).toContain('x-amz-security-token');
    expect(encodeKey("a b/c+d/e!'()*~")).toBe('a%20b/c%2Bd/e%21%27%28%29%2A~');
  });
});
