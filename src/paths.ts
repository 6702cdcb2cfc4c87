import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The project root, whether running from src/ (tsx) or dist/src/ (compiled). */
export const projectRoot = here.endsWith(`${sep}dist${sep}src`) ? resolve(here, '../..') : resolve(here, '..');
export const viewsDir = resolve(projectRoot, 'views');
export const publicDir = resolve(projectRoot, 'public');
