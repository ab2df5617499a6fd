// Placeholder until the native addon lands.
console.log('hesse: native addon not yet part of the build');
