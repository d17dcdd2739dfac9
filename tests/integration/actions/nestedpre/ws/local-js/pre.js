console.log("stage pre local-js");
