// Load kit for the masking service (tests and npm run bench): a realistic patient row and a raw client.
export { PATIENT_COLUMNS, patientRow } from './patient-rows.js';
export { encodeRequest, rawMaskClient } from './raw-client.js';
