console.log('failpost main');
