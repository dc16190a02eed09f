import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './support/processes';

/** No Docker here: the image is checked by reading its Dockerfile. */
describe('Dockerfile', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  // Every directory the server reads files from at run time (src/store/migrate.ts, src/http/pages.ts).
  it.each(['migrations', 'pages', 'dist', 'node_modules'])('puts %s/ into the runtime image', (dir) => {
    expect(fs.existsSync(path.join(ROOT, dir))).toBe(true);
    expect(runtimeStage).toMatch(new RegExp(`^COPY (--from=build )?(/app/)?${dir} \\./${dir}$`, 'm'));
  });
});
