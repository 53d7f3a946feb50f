// The entry point: mounts the app into index.html's #app.
import { render } from 'preact';
import { App } from './app';
import './styles.css';

const root = document.getElementById('app');
if (root) render(<App baseUrl={location.origin} />, root);
