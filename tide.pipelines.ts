/**
 * The default pipelines module (`tide run`, `tide worker`, `tide dev` read it unless --pipelines is given).
 */
import { definePipeline } from 'tide';
import { githubSource } from './examples/github.ts';

export default [
  definePipeline({
    name: 'github',
    datasetName: 'github_data',
    source: () => githubSource('tide-dev/tide'),
    schedule: { every: 'day' },
  }),
];
