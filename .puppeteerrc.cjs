// Puppeteer (a dependency of the desktop-commander test server) must not download a browser at install: none can be fetched here, and the tests never use it.
module.exports = { skipDownload: true };
