export { loadEarthlyServices, protoFiles, protoRoot } from './proto.js';
