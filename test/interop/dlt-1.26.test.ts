/** Hand-overs with dlt 1.26.0: tide is told the dataset is shared with it, so it writes 20-character dedup hashes. */
import { handoverSuite } from './handover.ts';

handoverSuite({ label: '1.26.0', venv: '.venv-1.26.0', tideDltVersion: '1.26.0', hashForm: 'long' });
