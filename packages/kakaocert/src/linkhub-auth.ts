/**
 * POST {authUrl}/KAKAOCERT/Token: a session token for one ClientCode (access_id), signed with
 * the LinkID's secret key. Body and headers as the `linkhub` npm module (API version 2.0) sends.
 */
import type http from 'node:http';
import { KakaocertTransportError } from './errors';
import { sendHttp } from './http-transport';
import { LINKHUB_API_VERSION, linkhubAuthorization } from './linkhub-signature';
import { errorFromResponse, jsonObject, parseToken } from './response-parsing';
import type { LinkhubToken } from './types';

export const KAKAOCERT_SERVICE_ID = 'KAKAOCERT';
/** The scopes the kakaocert SDK asks for ('member' plus its three service scopes). */
export const KAKAOCERT_SCOPES = ['member', '310', '320', '330'] as const;

export async function fetchLinkhubToken(input: {
  authUrl: URL;
  linkId: string;
  secretKey: string;
  clientCode: string;
  scopes: readonly string[];
  xDate: string;
  timeoutMs: number;
  forwardIp?: string;
  agent: http.Agent | false;
}): Promise<LinkhubToken> {
  const uri = `/${KAKAOCERT_SERVICE_ID}/Token`;
  const body = Buffer.from(JSON.stringify({ access_id: input.clientCode, scope: input.scopes }), 'utf8');
  const headers: Record<string, string> = {
    'x-lh-date': input.xDate,
    'x-lh-version': LINKHUB_API_VERSION,
    Authorization: linkhubAuthorization({
      linkId: input.linkId,
      secretKey: input.secretKey,
      body,
      xDate: input.xDate,
      uri,
      forwardIp: input.forwardIp,
    }),
    'Content-Type': 'application/json',
    'Content-Length': String(body.length),
    Accept: 'application/json',
  };
  if (input.forwardIp) headers['x-lh-forwarded'] = input.forwardIp;
  const response = await sendHttp({
    method: 'POST',
    url: new URL(uri, input.authUrl),
    headers,
    body,
    timeoutMs: input.timeoutMs,
    agent: input.agent,
  });
  if (response.status !== 200) throw errorFromResponse(response);
  const token = parseToken(jsonObject(response));
  if (token.session_token.length > 4096) throw new KakaocertTransportError('bad_response', 'session token too long', true);
  return token;
}
