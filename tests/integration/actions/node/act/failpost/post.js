console.log('failpost post'); process.exit(4);
