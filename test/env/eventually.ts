/** The harness's `eventually` is the framework's (framework/testing), so users' tests wait the same way. */
export { eventually } from '../../framework/testing/index.js';
