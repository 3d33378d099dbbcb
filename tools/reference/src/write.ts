// npm run docs:config: rewrites docs/configuration.md (then biome formats it).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '@phigate/testkit';
import { render } from './config-reference.js';

writeFileSync(join(REPO_ROOT, 'docs/configuration.md'), await render());
console.log('docs/configuration.md written');
