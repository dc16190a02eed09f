import fs from 'node:fs';
import path from 'node:path';

/** The package root, found from this file whether it runs from src/ (tests) or dist/src/ (built). */
export const PROJECT_ROOT = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the authd package root');
    dir = parent;
  }
  return dir;
})();
