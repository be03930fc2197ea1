import type { Condition, Resource } from '../../framework/index.js';
import type { QuantityValue } from './tenant.js';

export interface NodeResources {
  cpu?: QuantityValue;
  memory?: QuantityValue;
  disk?: QuantityValue;
}

/** schemas/node.schema.json's spec. */
export interface NodeSpec {
  address?: string;
  capacity?: NodeResources;
  reserved?: { cpu?: QuantityValue; memory?: QuantityValue };
  unschedulable?: boolean;
  drain?: { deadlineSeconds?: number };
  decommission?: boolean;
  labels?: Record<string, string>;
  wireguard?: { publicKey?: string; endpoint?: string };
}

export interface NodeStatus {
  capacity?: NodeResources;
  allocatable?: NodeResources;
  allocated?: NodeResources;
  lastHeartbeatTime?: string;
  overlayAddress?: string;
  instances?: number;
  conditions?: Condition[];
  observedGeneration?: number;
}

export type Node = Resource<NodeSpec, NodeStatus>;
