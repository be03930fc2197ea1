/**
 * An instance's environment from Secrets as it travels: a JSON object (variable → value) sealed by
 * the controller to the key of the instance's node, in platform.instances.sealed_env, and opened
 * by that node's agent just before it starts the process.
 */

/** The sealing context: bound to the instance's id, so a sealed env copied to another row does not open. */
export function instanceEnvContext(instanceId: string): string {
  return `instance ${instanceId} env`;
}
