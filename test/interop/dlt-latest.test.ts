/** Hand-overs with the latest dlt: tide's defaults (12-character dedup hashes) are what it reads and writes. */
import { handoverSuite } from './handover.ts';

handoverSuite({ label: 'latest', venv: '.venv-latest', hashForm: 'short' });
