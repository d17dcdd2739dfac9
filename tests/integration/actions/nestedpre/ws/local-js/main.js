console.log("stage main local-js");
