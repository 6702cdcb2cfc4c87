// @ts-check
/** How a failed request reads in a notice: the client's own codes in words, the server's message otherwise. */

/** @param {{ code: string, message: string }} error */
export function describe(error) {
  switch (error.code) {
    case 'rate_limited':
      return 'you are sending too fast; wait a moment';
    case 'offline':
      return 'no connection';
    case 'timeout':
      return 'the server did not answer';
    case 'forbidden':
      return 'you are not allowed here';
    default:
      return error.message;
  }
}
