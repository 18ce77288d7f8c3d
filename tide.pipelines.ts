/**
 * The default pipelines module (`tide run`, `tide worker`, `tide dev` read it unless --pipelines is given).
 */
import { definePipeline } from 'tide';
import { githubRestSource } from './examples/github.ts';

export default [
  definePipeline({
    name: 'github',
    datasetName: 'github_data',
    // a restApiSource config (examples/github.ts); the run's `repo` param names the repository
    source: ({ params }) => githubRestSource(String(params.repo)),
    // daily at midnight in Berlin: 23- and 25-hour days across DST changes
    schedule: { every: 'day', timezone: 'Europe/Berlin', pauseOnFailure: 3 },
    // `tide trigger github --param repo=owner/name` (or the Web UI's "Start workflow": { "params": { "repo": … } })
    params: { repo: { type: 'string', default: 'tide-dev/tide', description: 'the repository whose issues are loaded' } },
    // alerts: a JSON POST when TIDE_ALERT_WEBHOOK is set, and a line on the worker's stderr on failure
    notify: { webhook: process.env.TIDE_ALERT_WEBHOOK, on: ['failure', 'recovered', 'sla_miss'] },
    onFailure: (e) => void process.stderr.write(`ALERT ${e.pipeline} failed: ${e.error?.type}: ${e.error?.message}\n  ${e.url}\n`),
    sla: '6h',
  }),
];
