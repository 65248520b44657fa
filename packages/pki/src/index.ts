export { CertificateAuthority, fingerprintOf, satelliteServerName, serverNames, LEAF_DAYS, type ClientRequest, type IssuedClient, type KeyPairPem, type ServerNames, type TlsMaterial } from "./authority.ts";
export { loadCa, loadOrCreateCa, CA_CERT_FILE, CA_KEY_FILE, type CaSource } from "./store.ts";
