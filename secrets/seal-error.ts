/** A sealed value could not be opened: wrong key, another context, or changed on the way. Never carries the value. */
export class SealError extends Error {
  override readonly name = 'SealError';
}
