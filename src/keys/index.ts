/** Master key rotation: `strongroom keys rotate` and anything else that must move keys. */
export type {
  RotateKeysOptions,
  RotateKeysResult,
} from "./rotation.service.js";
export { KeyRotationError, ROTATION_BATCH_SIZE, rotateKeys } from "./rotation.service.js";
