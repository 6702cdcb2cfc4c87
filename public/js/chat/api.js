// @ts-check
/** Same-origin JSON API calls with the session's CSRF token (from <meta name="csrf-token">). */

const tokenMeta = document.querySelector('meta[name="csrf-token"]');
const csrfToken = tokenMeta instanceof HTMLMetaElement ? tokenMeta.content : '';

/**
 * @typedef {{ ok: true, status: number, data: any } | { ok: false, status: number, error: { code: string, message: string } }} ApiResult
 */

/**
 * Calls the API. Never throws: network failures come back as `{ok:false, error:{code:'network'}}`.
 * @param {'GET' | 'POST' | 'PATCH' | 'DELETE'} method
 * @param {string} path
 * @param {object} [body]
 * @returns {Promise<ApiResult>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  } catch {
    return { ok: false, status: 0, error: { code: 'network', message: 'The server could not be reached. Try again.' } };
  }
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.ok) return { ok: true, status: res.status, data };
  const error = data && typeof data === 'object' && data.error ? data.error : { code: 'http', message: `request failed (${res.status})` };
  return { ok: false, status: res.status, error: { code: String(error.code), message: String(error.message ?? error.code) } };
}
