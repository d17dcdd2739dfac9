console.log(`plain post ${process.env.STATE_plain_state}`);
