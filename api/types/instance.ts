/**
 * What an instance runs (the jsonb column platform.instances.spec): the App controller writes it
 * when it places the instance (reconcilers/app.ts templateOf fills every field it has), the node
 * agent reads it back (agents/node/plan.ts checks every field of the stored row before it starts
 * anything, and defaults what a row written before a field existed lacks).
 */
export interface InstanceTemplate {
  readonly command: readonly string[];
  /** spec.image: an OCI image to run as a microVM; no runtime runs images yet, so the agent refuses it (RuntimeUnavailable). */
  readonly image?: string;
  /** The plain variables (spec.env without valueFrom). @default {} */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * The variables whose values come from Secrets (`namespace/name`, key): names only. The values
   * travel sealed to the instance's node (platform.instances.sealed_env), never in the template.
   */
  readonly secretEnv?: readonly SecretEnvRef[];
  readonly healthCheck?: InstanceHealthCheck;
  /** Volumes to hand to the instance; it starts only once each is ready on its node. */
  readonly volumes?: readonly VolumeMount[];
}

/** spec.healthCheck as an instance runs it; the controller writes the schema's defaults out. */
export interface InstanceHealthCheck {
  readonly path: string;
  /** @default 10 */
  readonly periodSeconds?: number;
  /** @default 1 */
  readonly timeoutSeconds?: number;
  /** @default 3 */
  readonly failureThreshold?: number;
}

/** One environment variable whose value is one key of a Secret. */
export interface SecretEnvRef {
  readonly name: string;
  /** namespace/name of the Secret. */
  readonly secret: string;
  readonly key: string;
}

/** One volume of an instance: the Volume's key and where the instance expects it. */
export interface VolumeMount {
  /** namespace/name */
  readonly volume: string;
  /** An absolute path such as /data. */
  readonly mountPath: string;
}
