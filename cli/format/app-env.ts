/** An App's environment for `tend describe` and `tend why`: values as given, Secrets by reference only. */
import type { App } from '../../api/types/app.js';
import { describeSecretRef } from '../../reconcilers/app-secrets.js';
import { columns } from './sections.js';

/** `Environment:` and one line per variable; a Secret's shows as `secret NS/NAME key KEY`. */
export function envSection(app: App): string[] {
  const env = app.spec?.env ?? [];
  if (env.length === 0) return ['Environment: <none>'];
  const namespace = app.metadata.namespace ?? '';
  return [
    'Environment:',
    ...columns(env.map((e) => [e.name, e.valueFrom ? describeSecretRef(namespace, { secret: e.valueFrom.secretKeyRef.name, key: e.valueFrom.secretKeyRef.key }) : JSON.stringify(e.value ?? '')])),
  ];
}
