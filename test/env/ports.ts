export { freePort } from '../../agents/node/free-port.js';
