// @ts-check
/**
 * Every HTTP call of the chat page goes through here: same-origin JSON with the
 * session's CSRF token (from <meta name="csrf-token">). Widgets and the core are
 * given `chatApi` rather than calling `fetch` themselves.
 */

/** @typedef {import('./types.js').ApiResult} ApiResult */
/** @typedef {import('./types.js').ChatApi} ChatApi */

const tokenMeta = document.querySelector('meta[name="csrf-token"]');
const csrfToken = tokenMeta instanceof HTMLMetaElement ? tokenMeta.content : '';

/**
 * Calls the API. Never throws: network failures come back as `{ok:false, error:{code:'network'}}`.
 * @param {'GET' | 'POST' | 'PATCH' | 'DELETE'} method
 * @param {string} path
 * @param {object} [body]
 * @param {{ cache?: RequestCache }} [options]
 * @returns {Promise<ApiResult>}
 */
export async function api(method, path, body, options = {}) {
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
      ...(options.cache && { cache: options.cache }),
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

/** @param {string} roomId */
const membersPath = (roomId) => `/api/rooms/${encodeURIComponent(roomId)}/members`;

/** @type {ChatApi} */
export const chatApi = {
  listRooms: () => api('GET', '/api/rooms'),
  createRoom: (body) => api('POST', '/api/rooms', body),
  addMember: (roomId, username) => api('POST', membersPath(roomId), { username }),
  removeMember: (roomId, username) => api('DELETE', `${membersPath(roomId)}/${encodeURIComponent(username)}`),
  /** Whether this browser is signed in now (its cookie may have just changed): never from the HTTP cache. */
  signedIn: async () => (await api('GET', '/api/me', undefined, { cache: 'no-store' })).ok,
};
