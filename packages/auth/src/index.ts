export { bearerToken, createTokenVerifier, type Identity, type IssuerConfig, requireGroup, type TokenVerifier, type VerifierOptions } from './verifier.js';
